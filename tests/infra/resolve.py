"""A template as CloudFormation would deploy it for given parameter values: conditions and Fn::If decided."""

from __future__ import annotations

from typing import Any

NO_VALUE: Any = object()
UNRESOLVED: Any = object()


class Resolved:
    """Parameters at their defaults unless overridden; intrinsics that depend only on them evaluated.

    Anything that needs a deployed resource (GetAtt, Sub, Ref to a resource) is left as written.
    """

    def __init__(self, template: dict[str, Any], **overrides: str) -> None:
        self.template = template
        self.parameters: dict[str, Any] = {}
        for name, spec in template.get("Parameters", {}).items():
            raw = overrides.pop(name, spec.get("Default"))
            if raw is None:
                raise ValueError(f"parameter {name} has no default and no value")
            raw = str(raw)
            self.parameters[name] = raw.split(",") if spec["Type"].startswith("CommaDelimitedList") else raw
        if overrides:
            raise ValueError(f"unknown parameters {sorted(overrides)}")
        self._conditions: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self._conditions[name]

    def value(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.value(item) for item in node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            evaluated = self._intrinsic(key, arg)
            if evaluated is not UNRESOLVED:
                return evaluated
        return {k: v for k, v in ((k, self.value(v)) for k, v in node.items()) if v is not NO_VALUE}

    def _intrinsic(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            if arg == "AWS::NoValue":
                return NO_VALUE
            return self.parameters.get(arg, {"Ref": arg})
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::If":
            return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        if key == "Fn::Equals":
            return self.value(arg[0]) == self.value(arg[1])
        if key == "Fn::Not":
            return not self.value(arg[0])
        if key == "Fn::And":
            return all(self.value(a) for a in arg)
        if key == "Fn::Or":
            return any(self.value(a) for a in arg)
        if key == "Fn::Contains":
            return self.value(arg[1]) in self.value(arg[0])
        if key == "Fn::Join":
            parts = self.value(arg[1])
            if isinstance(parts, list) and all(isinstance(p, str) for p in parts):
                return arg[0].join(parts)
        return UNRESOLVED

    def resource(self, name: str) -> dict[str, Any] | None:
        """The resource's properties, or None when its Condition leaves it out."""
        resource = self.template["Resources"][name]
        if "Condition" in resource and not self.condition(resource["Condition"]):
            return None
        properties: dict[str, Any] = self.value(resource.get("Properties", {}))
        return properties

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        found = {}
        for name, resource in self.template["Resources"].items():
            if resource["Type"] == type_:
                properties = self.resource(name)
                if properties is not None:
                    found[name] = properties
        return found

    def rule_violations(self) -> list[str]:
        """AssertDescription of every Rule assertion these parameters break (CloudFormation refuses them)."""
        broken = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            for assertion in rule["Assertions"]:
                if not self.value(assertion["Assert"]):
                    broken.append(assertion["AssertDescription"])
        return broken
