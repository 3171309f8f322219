from mcrm import create_app

app = create_app()
