"""The browser playground: ``gradstep serve`` (see :mod:`gradstep.web.app`)."""
