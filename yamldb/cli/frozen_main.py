"""The script PyInstaller freezes for the self-contained plugin file (yamldb/cli/frozen.spec); it runs as __main__."""

from yamldb.transport.entry import main

if __name__ == "__main__":
    main()
