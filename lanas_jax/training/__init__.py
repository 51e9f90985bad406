"""Training loops that build benchmark tables (plain ConvNets, LaNAS Sec. 2)."""
