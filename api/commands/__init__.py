"""Sub-commands of `parindex`; every module here is loaded and registers its own."""
