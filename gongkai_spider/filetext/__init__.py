"""Text of attachment files (PDF, DOCX, XLSX, XLS, DOC/WPS, TXT/CSV, ZIP/RAR, ...), kept apart from the pipelines.

The narrow interface the attachments pipeline and ``gongkai attachments`` use:

- ``Limits``: what one file may cost (characters kept, pages read, decompressed bytes, archive depth);
- ``FileTextRunner(limits, timeout, memory_mb).extract(data, name, content_type) -> dict``: the text of one
  file, parsed in a separate worker process with a wall-clock and a memory limit;
- ``extract(data, name, content_type, limits)``: the same in this process (tests, benchmarks);
- ``sniff(data, name, content_type)``: the format of a file from its bytes.

See ``formats.py`` for the result keys and the measurements behind the library choices.
"""

from gongkai_spider.filetext.formats import Limits, default_tools, extract, sniff
from gongkai_spider.filetext.runner import FileTextRunner

__all__ = ["FileTextRunner", "Limits", "default_tools", "extract", "sniff"]
