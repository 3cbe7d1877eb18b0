"""Gadgetron 4 chain XMLs (``<configuration><version>2</version>...``): find and edit our external node."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

from .transport import GADGET_MODULE, GADGET_TARGET

CONFIG_DIR_NAMES = ("config",)


class ChainError(ValueError):
    """A chain XML that cannot drive the inline AI gadget."""


@dataclass
class ExternalNode:
    """Our ``<external>`` element of a chain and how Gadgetron reaches it."""

    element: ElementTree.Element
    mode: str  # "execute" or "connect"
    module: str | None
    target: str | None
    address: str | None
    port: int | None

    @property
    def configuration(self) -> ElementTree.Element:
        found = self.element.find("configuration")
        if found is None:
            found = ElementTree.SubElement(self.element, "configuration")
        return found


def load_chain(path: str | Path) -> ElementTree.ElementTree:
    path = Path(path)
    if not path.is_file():
        raise ChainError(f"chain XML not found: {path}")
    try:
        tree = ElementTree.parse(path)
    except ElementTree.ParseError as error:
        raise ChainError(f"{path}: not valid XML: {error}") from error
    root = tree.getroot()
    if root.tag != "configuration" or (root.findtext("version") or "").strip() != "2":
        raise ChainError(f"{path}: not a Gadgetron 4 chain (<configuration><version>2</version>...)")
    return tree


def external_nodes(tree: ElementTree.ElementTree) -> list[ExternalNode]:
    """Every ``<external>`` element of the chain (anywhere in the stream)."""
    nodes = []
    for element in tree.getroot().iter("external"):
        execute, connect = element.find("execute"), element.find("connect")
        if execute is not None:
            nodes.append(ExternalNode(element, "execute", execute.get("name"), execute.get("target"), None, None))
        elif connect is not None:
            port = connect.get("port", "")
            nodes.append(ExternalNode(element, "connect", None, None, connect.get("address") or "localhost",
                                      int(port) if port.isdigit() else None))
        else:
            raise ChainError("an <external> node has neither <execute> nor <connect>")
    return nodes


def inline_ai_node(tree: ElementTree.ElementTree) -> ExternalNode:
    """Our external node: the one executing our module, else the only connect node."""
    nodes = external_nodes(tree)
    ours = [n for n in nodes if n.mode == "execute" and n.module == GADGET_MODULE]
    if not ours:
        ours = [n for n in nodes if n.mode == "connect"]
    if len(ours) != 1:
        raise ChainError(f"expected exactly one inline AI external node ({GADGET_MODULE}.{GADGET_TARGET} "
                         f"or a <connect>), found {len(ours)}")
    return ours[0]


def set_properties(node: ExternalNode, properties: dict[str, str]) -> None:
    """Set (or add) ``<property name=... value=.../>`` entries in the node's configuration."""
    configuration = node.configuration
    for name, value in properties.items():
        existing = [p for p in configuration.findall("property") if p.get("name") == name]
        if existing:
            existing[0].set("value", str(value))
        else:
            ElementTree.SubElement(configuration, "property", {"name": name, "value": str(value)})


def configuration_text(node: ExternalNode) -> str:
    """The node's ``<configuration>`` as Gadgetron sends it to the external process."""
    return '<?xml version="1.0"?>\n' + ElementTree.tostring(node.configuration, encoding="unicode")


def make_configuration(properties: dict[str, str]) -> str:
    """A stand-alone ``<configuration>`` document with these properties."""
    root = ElementTree.Element("configuration")
    for name, value in properties.items():
        ElementTree.SubElement(root, "property", {"name": name, "value": str(value)})
    return '<?xml version="1.0"?>\n' + ElementTree.tostring(root, encoding="unicode")


def chain_text(tree: ElementTree.ElementTree) -> str:
    return ElementTree.tostring(tree.getroot(), encoding="unicode", xml_declaration=True)
