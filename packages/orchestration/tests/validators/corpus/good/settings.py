"""Shared settings, imported as `acme.settings`: the package is a folder of the production DAGs folder."""

IMAGE = "registry.example.com/acme/jobs@sha256:" + "0" * 64
