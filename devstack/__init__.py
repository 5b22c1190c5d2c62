"""Local stack for tests, the demo and benchmarks: real services on loopback, started and stopped."""
