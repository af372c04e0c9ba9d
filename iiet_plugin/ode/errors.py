"""The one exception type for bad user input (options, plans, checkpoints, data files).

``ConfigError`` is a ``ValueError``: library callers catch it as before.  Its message
names the option or file and what is allowed.  The plugin's command-line tools (and
fairseq's, once the plugin is imported) print it as one ``error:`` line without a
traceback: see ``iiet_plugin.cli.errors``.
"""


class ConfigError(ValueError):
    """Bad input named by its option or file, with the allowed values."""
