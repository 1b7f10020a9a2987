"""The demo province that `parindex demo` loads: two published years of Khánh Hòa."""

from domain.demo.loader import DemoCycle, DemoSummary, load_demo

__all__ = ["DemoCycle", "DemoSummary", "load_demo"]
