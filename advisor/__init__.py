"""advisor: the minimum-cost blended GPU fleet for LLM serving.

One-way data flow: catalog/demand -> roofline -> options -> milp -> solve -> plan -> report/cli.
"""

from __future__ import annotations

__version__ = "0.1.0"
