"""medbench: compare initialization sources for medical-imaging backbones on fixed-seed protocols."""

__version__ = "0.1.0"
