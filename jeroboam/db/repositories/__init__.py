"""Every query lives here, scoped to the caller's project unless the caller may see all."""
