"""The image builder: Dockerfile parsing and the build service (POST /build)."""
