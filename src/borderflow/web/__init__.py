"""The web application: server-rendered pages (Jinja2, htmx), in Vietnamese, English and
Chinese, every asset served from the package."""
