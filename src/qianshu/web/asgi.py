"""ASGI entry point for uvicorn workers: settings come from the environment and data folder."""

from qianshu.core.settings import get_settings
from qianshu.web.app import create_app

app = create_app(get_settings())
