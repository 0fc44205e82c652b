"""One module per plug-in convention; each registers its adapter (``compare.plugins.protocol.register``).

A new convention is one more module here (plus its example and test): detection, ``--convention``'s
choices and the API read the registry.  ``compare.plugins.protocol.discover`` imports them all."""
