"""Study kinds, one module each, named as the kind: ``nasproxy worker`` imports ``<kind>.py`` the
first time it joins a study of that kind, and the module registers it
(:func:`nas_proxy.studies.kinds.register`). Adding a kind is adding a file here."""
