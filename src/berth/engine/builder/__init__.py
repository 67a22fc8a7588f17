"""The image builder: Dockerfile parsing (``dockerfile``), the build context (``context``) and the
classic builder's steps (``builder``, behind POST /build). Sits above the other engine packages.
"""
