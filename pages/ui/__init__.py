"""Streamlit helpers shared by app.py and every page (this folder is a package, not a page)."""
