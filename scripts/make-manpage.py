#!/usr/bin/env python3
"""Writes a man page (roff, section 1) for clipd or passvm from the command definitions.

The commands, options and texts come from the tool itself (`TOOL --experimental-dump-help`,
swift-argument-parser's description of its commands), so the page cannot drift from the
binary. What the definitions do not hold (files, environment, exit status) comes from
packaging/man/TOOL.sections, appended as written.

Usage: make-manpage.py BINARY SECTIONS_FILE > TOOL.1
"""
import json
import subprocess
import sys


def roff(text):
    """Text escaped for roff: backslashes, and dots or quotes that would start a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line.startswith(".") or line.startswith("'"):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def paragraphs(text):
    """A discussion as roff: blank lines separate paragraphs; indented lines are examples."""
    out = []
    block = []
    for line in text.split("\n"):
        if line.startswith("  "):
            block.append(line.strip("\n"))
            continue
        if block:
            out += [".PP", ".nf", ".RS 4"] + [roff(b.strip()) for b in block] + [".RE", ".fi"]
            block = []
        if line.strip() == "":
            continue
        out += [".PP", roff(line.strip())]
    if block:
        out += [".PP", ".nf", ".RS 4"] + [roff(b.strip()) for b in block] + [".RE", ".fi"]
    return out


def names(argument):
    parts = []
    for name in argument.get("names", []):
        prefix = "-" if name["kind"] in ("short", "longWithSingleDash") else "--"
        parts.append("\\fB" + roff(prefix + name["name"]) + "\\fR")
    label = ", ".join(parts)
    if argument["kind"] == "option":
        label += " \\fI" + roff(argument.get("valueName", "value")) + "\\fR"
    if argument["kind"] == "positional":
        label = "\\fI" + roff(argument.get("valueName", "argument")) + "\\fR"
    return label


def usage(path, command):
    words = ["\\fB" + roff(" ".join(path)) + "\\fR"]
    for argument in command.get("arguments", []):
        if not argument.get("shouldDisplay", True) or argument.get("valueName") == "help":
            continue
        if argument["kind"] == "positional":
            word = "\\fI" + roff(argument.get("valueName", "argument")) + "\\fR"
        else:
            preferred = argument.get("preferredName") or argument["names"][0]
            prefix = "-" if preferred["kind"] == "short" else "--"
            word = "\\fB" + roff(prefix + preferred["name"]) + "\\fR"
            if argument["kind"] == "option":
                word += " \\fI" + roff(argument.get("valueName", "value")) + "\\fR"
        if argument.get("isRepeating"):
            word += "\\&..."
        if argument.get("isOptional"):
            word = "[" + word + "]"
        words.append(word)
    return " ".join(words)


def command_section(path, command, level):
    out = []
    heading = " ".join(path)
    out.append((".SS " if level > 0 else ".SH ") + '"' + roff(heading) + '"')
    out += [".PP", usage(path, command)]
    if command.get("abstract"):
        out += [".PP", roff(command["abstract"])]
    if command.get("discussion"):
        out += paragraphs(command["discussion"])
    shown = [a for a in command.get("arguments", []) if a.get("shouldDisplay", True) and a.get("valueName") != "help"]
    for argument in shown:
        out += [".TP", names(argument), roff(argument.get("abstract", "")) or "\\&"]
        if argument.get("defaultValue"):
            out[-1] += " (default: " + roff(argument["defaultValue"]) + ")"
    return out


def walk(path, command, level, out):
    for sub in command.get("subcommands", []):
        if sub["commandName"] == "help" or not sub.get("shouldDisplay", True):
            continue
        sub_path = path + [sub["commandName"]]
        out += command_section(sub_path, sub, level)
        walk(sub_path, sub, level + 1, out)


def main():
    binary, sections = sys.argv[1], sys.argv[2]
    info = json.loads(subprocess.run([binary, "--experimental-dump-help"], check=True, capture_output=True).stdout)
    version = subprocess.run([binary, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    top = info["command"]
    name = top["commandName"]
    out = [
        '.TH "' + name.upper() + '" "1" "" "' + name + " " + version + '" "User Commands"',
        ".SH NAME",
        roff(name) + " \\- " + roff(top.get("abstract", "")),
        ".SH SYNOPSIS",
        ".PP",
        "\\fB" + roff(name) + "\\fR \\fIcommand\\fR [\\fIoptions\\fR]",
        ".SH DESCRIPTION",
    ]
    out += paragraphs(top.get("discussion", top.get("abstract", "")))
    out.append(".SH COMMANDS")
    body = []
    walk([name], top, 1, body)
    out += body
    with open(sections, encoding="utf-8") as extra:
        out.append(extra.read().rstrip("\n"))
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
