"""The metadata service: Nova's metadata tree over HTTP, answered from prebuilt bytes.

Nothing is imported here: ``guestmeta serve`` loads the server machinery only when it
runs, and tests import the modules they need (``settings``, ``identity``, ``app``...).
"""
