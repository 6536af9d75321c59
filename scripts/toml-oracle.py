#!/usr/bin/env python3
"""Parses TOML documents with Python's tomllib, for the ClipTOML differential test.

Reads a JSON list of documents on stdin; writes a JSON list with, for each, either
{"error": message} or {"ok": value}, where every value is a one-key dict naming its kind:
{"t": {key: value}} (table), {"a": [value]} (array), {"s": text}, {"i": "123"}, {"f": "1.5" | "nan" | "inf"},
{"b": true}, {"d": "1979-05-27T07:32:00Z"} (dates and times in one normal form).
"""
import datetime
import json
import sys
import tomllib


def fraction(microsecond):
    return "" if microsecond == 0 else ".%06d" % microsecond


def tag(value):
    if isinstance(value, dict):
        return {"t": {key: tag(item) for key, item in value.items()}}
    if isinstance(value, list):
        return {"a": [tag(item) for item in value]}
    if isinstance(value, bool):
        return {"b": value}
    if isinstance(value, int):
        return {"i": str(value)}
    if isinstance(value, float):
        return {"f": repr(value)}
    if isinstance(value, str):
        return {"s": value}
    if isinstance(value, datetime.datetime):
        text = "%04d-%02d-%02dT%02d:%02d:%02d%s" % (value.year, value.month, value.day, value.hour,
                                                   value.minute, value.second, fraction(value.microsecond))
        offset = value.utcoffset()
        if offset is not None:
            minutes = int(offset.total_seconds()) // 60
            text += "Z" if minutes == 0 else "%s%02d:%02d" % ("-" if minutes < 0 else "+", abs(minutes) // 60, abs(minutes) % 60)
        return {"d": text}
    if isinstance(value, datetime.date):
        return {"d": "%04d-%02d-%02d" % (value.year, value.month, value.day)}
    if isinstance(value, datetime.time):
        return {"d": "%02d:%02d:%02d%s" % (value.hour, value.minute, value.second, fraction(value.microsecond))}
    raise TypeError(type(value))


def main():
    results = []
    for document in json.load(sys.stdin):
        try:
            results.append({"ok": tag(tomllib.loads(document))})
        except tomllib.TOMLDecodeError as error:
            results.append({"error": str(error)})
        except (ValueError, RecursionError) as error:  # e.g. a date tomllib's datetime refuses
            results.append({"error": "%s: %s" % (type(error).__name__, error)})
    json.dump(results, sys.stdout)


main()
