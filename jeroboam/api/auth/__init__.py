"""api/auth"""
