"""The shipped catalog (YAML data files), installed as ``advisor.catalogs``."""
