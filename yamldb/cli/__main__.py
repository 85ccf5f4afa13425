from yamldb.cli.main import main

main()
