"""The script PyInstaller freezes for the self-contained plugin file (yamldb/cli/frozen.spec)."""

from yamldb.transport.entry import main

main()
