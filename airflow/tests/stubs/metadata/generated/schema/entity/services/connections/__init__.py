import omstub

omstub.record("import", __name__)
