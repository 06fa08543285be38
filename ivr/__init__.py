"""ivr: run, prove and test phone menus."""
