import omstub

omstub.record("import", __name__)
omstub.record("secrets", "import", __name__)
