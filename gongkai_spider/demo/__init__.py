"""The bundled demo portal: a generated local gov site (``portal``) and a small HTTP server for it (``server``)."""

from gongkai_spider.demo.portal import Portal, build_portal
from gongkai_spider.demo.server import serve

__all__ = ["Portal", "build_portal", "serve"]
