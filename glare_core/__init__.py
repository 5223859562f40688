"""Glare Studio's Qt-free core: the GLARE network, inference engine, image I/O and batch export."""

__version__ = "0.1.0"
