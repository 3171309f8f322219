"""The apps behind keywords: built-in ones (members, service, staff) and the wizard kinds (custom)."""
