"""Compatibility namespaces: other libraries' names, signatures and defaults on gradtx blocks."""
