"""Stream ends under componentize-py's names (see :mod:`isyswasfa.pipes`)."""

from isyswasfa.pipes import ByteStreamReader, ByteStreamWriter, StreamReader, StreamWriter

__all__ = ["ByteStreamReader", "ByteStreamWriter", "StreamReader", "StreamWriter"]
