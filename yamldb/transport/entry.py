"""Entry of the plugin executable; sets the environment before grpc is imported."""

import os


def main() -> None:
    # grpc's C core reads these at import time and writes unstructured lines to fd 2.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
    from yamldb.transport.server import main as serve_main

    serve_main()


if __name__ == "__main__":
    main()
