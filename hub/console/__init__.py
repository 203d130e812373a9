"""The staff console: server-rendered pages for governance and operations staff under /console."""
