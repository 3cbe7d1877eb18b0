"""Gadget parameters from the configuration XML Gadgetron sends to an external gadget.

Gadgetron 4 sends an external node's ``<configuration>`` element verbatim (pugixml copy), e.g.::

    <?xml version="1.0"?>
    <configuration>
        <property name="model" value="lax_cine"/>
        <property name="threshold" value="0.2"/>
    </configuration>

The legacy form ``<property><name>model</name><value>lax_cine</value></property>`` is accepted
too. Property names are the fields of ``inline_ai.pipeline.AnalysisSettings``; each value is
converted to the type of that field's default. See ``config/defaults.md``.
"""

from __future__ import annotations

import dataclasses
import logging
import xml.etree.ElementTree as ElementTree
from typing import Any

log = logging.getLogger(__name__)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ConfigError(ValueError):
    """A gadget property has a value that cannot be used."""


def _local_name(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def properties_from_config(config_xml: str | bytes | None) -> dict[str, str]:
    """``{name: value}`` of every ``<property>`` directly under the configuration element."""
    if config_xml is None:
        return {}
    text = config_xml.decode("utf-8", errors="replace") if isinstance(config_xml, bytes) else config_xml
    text = text.strip().rstrip("\0").strip()
    if text.startswith("<?xml"):  # an external node without <configuration> arrives as a bare declaration
        declaration_end = text.find("?>")
        if declaration_end >= 0 and not text[declaration_end + 2:].strip():
            return {}
    if not text:
        return {}
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as error:
        raise ConfigError(f"gadget configuration is not valid XML: {error}") from error
    properties: dict[str, str] = {}
    for node in root:
        if _local_name(node.tag) != "property":
            continue
        if "name" in node.attrib:
            name, value = node.attrib["name"], node.attrib.get("value", "")
        else:
            children = {_local_name(child.tag): (child.text or "") for child in node}
            if "name" not in children:
                raise ConfigError(f"property without a name: {ElementTree.tostring(node, encoding='unicode')}")
            name, value = children["name"], children.get("value", "")
        properties[name.strip()] = value.strip()
    return properties


_NONE_TEXT = {"", "none", "null"}
_KINDS: dict[str, type] = {"bool": bool, "int": int, "float": float, "dict": dict, "list": list, "tuple": tuple}


def _kind(field: dataclasses.Field, default: Any) -> str:
    """bool / int / float / dict / list / str, from the field's annotation (or its default)."""
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    first = annotation.replace(" ", "").split("|")[0].split("[")[0]
    for kind, python_type in _KINDS.items():
        if first == kind or isinstance(default, python_type):
            return kind
    return "str"


def _convert(field: dataclasses.Field, text: str, default: Any) -> Any:
    name, kind = field.name, _kind(field, default)
    optional = "None" in str(field.type) or default is None
    if optional and text.lower() in _NONE_TEXT:
        return None
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ConfigError(f"property {name!r}: expected true/false, got {text!r}")
    if kind in ("int", "float"):
        try:
            return int(text) if kind == "int" else float(text)
        except ValueError as error:
            what = "an integer" if kind == "int" else "a number"
            raise ConfigError(f"property {name!r}: expected {what}, got {text!r}") from error
    if kind == "dict":  # "key=value,key=value" updates the default mapping
        mapping = dict(default or {})
        for item in filter(None, (part.strip() for part in text.replace(";", ",").split(","))):
            key, sep, value = item.partition("=")
            if not sep:
                raise ConfigError(f"property {name!r}: expected key=value pairs, got {item!r}")
            mapping[key.strip()] = value.strip()
        return mapping
    if kind in ("list", "tuple"):
        parts = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
        return tuple(parts) if kind == "tuple" else parts
    return text


def settings_from_properties(properties: dict[str, str], settings_class: type | None = None,
                             base: Any = None) -> Any:
    """An ``AnalysisSettings`` with the given properties applied over its defaults.

    Unknown names are logged and ignored (a chain written for a newer gadget still runs);
    values that cannot be converted raise ``ConfigError``. ``base`` (settings) replaces the defaults.
    """
    if base is not None:
        settings_class = type(base)
    if settings_class is None:
        from inline_ai.pipeline import AnalysisSettings

        settings_class = AnalysisSettings
    defaults = base if base is not None else settings_class()
    known = {field.name: field for field in dataclasses.fields(settings_class)}
    values: dict[str, Any] = {}
    for name, text in properties.items():
        if name not in known:
            log.warning("ignoring unknown gadget property %r (known: %s)", name, ", ".join(sorted(known)))
            continue
        values[name] = _convert(known[name], text, getattr(defaults, name))
    return dataclasses.replace(defaults, **values)


def settings_from_config(config_xml: str | bytes | None, settings_class: type | None = None,
                         base: Any = None) -> Any:
    """Parse a configuration XML straight into ``AnalysisSettings`` (over ``base`` when given)."""
    return settings_from_properties(properties_from_config(config_xml), settings_class, base)


def parse_assignments(assignments: list[str]) -> dict[str, str]:
    """``["threshold=0.2", ...]`` -> ``{"threshold": "0.2"}`` with a clear error for bad items."""
    properties: dict[str, str] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"--set expects NAME=VALUE, got {assignment!r}")
        properties[name.strip()] = value.strip()
    return properties


def settings_from_command_line(assignments: list[str], *, model: str | None = None,
                               device: str | None = None) -> Any:
    """Settings from ``--set NAME=VALUE`` items plus the ``--model`` / ``--device`` shortcuts."""
    properties = parse_assignments(assignments)
    if model:
        properties["model"] = model
    if device:
        properties["device"] = device
    return settings_from_properties(properties)
