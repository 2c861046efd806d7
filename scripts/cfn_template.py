"""Write the generated parts of deploy/cloudformation.yaml from their one source each.

    scripts/cfn-template            # rewrite them in place
    scripts/cfn-template --check    # exit 1 and show the difference if they are not current

The template is written by hand except between `# BEGIN GENERATED <part>` and
`# END GENERATED <part>` lines, which come from:

- controller/settings.py: a parameter per setting (PascalCase: EMR_PREFIX -> EmrPrefix, empty
  meaning unset), its condition, and its entry in the container's environment;
- deploy/iam-policy-*.json and deploy/ecs-task-role-trust-policy.json: the task role's trust
  and inline policies, statement for statement, the files' ${PLACEHOLDERS} turned into the
  stack's parameters. These files are what tests/test_iam*_integration.py prove under moto's
  IAM enforcement, so the template grants exactly what was proven.

A new setting or a new action in a policy file reaches the template by running this again;
tests/test_cfn_template.py fails until it has been.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from controller import autoscalers, config, sources

TEMPLATE = ROOT / "deploy" / "cloudformation.yaml"
DEPLOY = ROOT / "deploy"

# Parameters whose default in the template differs from the controller's: the alarms and the
# dashboard need the metrics, and the metrics need JSON lines.
TEMPLATE_DEFAULTS = {"LOG_FORMAT": "json", "CLOUDWATCH_NAMESPACE": "DynamoDBAutoscalerControl"}
# What CloudFormation can check before it creates anything; the controller checks the rest
# at start (and then the deployment circuit breaker rolls the stack back).
PATTERNS = {
    "EMR_REGION": r"^([a-z]{2}(-[a-z]+)+-[0-9]+)?$",
    "AUTOSCALER_REGION": r"^([a-z]{2}(-[a-z]+)+-[0-9]+)?$",
    "DYNAMODB_REGION": r"^([a-z]{2}(-[a-z]+)+-[0-9]+)?$",
    # A name or an ARN; the names end up in an IAM policy and a dashboard.
    "AUTOSCALER_CLUSTER": r"^[a-zA-Z0-9_:/.-]*$",
    "AUTOSCALER_SERVICE": r"^[a-zA-Z0-9_:/.-]*$",
    # What a DynamoDB table name may hold.
    "DYNAMODB_TABLE_PREFIX": r"^[a-zA-Z0-9_.-]{0,255}$",
    "HTTP_PORT": r"^([0-9]{1,5})?$",
    "PAUSE_SCOPE": r"^(prefix|named)?$",
}


def pascal(name: str) -> str:
    """A setting's parameter name: EMR_PREFIX -> EmrPrefix."""
    return "".join(word.capitalize() for word in name.split("_"))


# The task role's inline policies: (name, file, the condition that attaches it). A statement
# an earlier file already grants is left to that file's condition: iam-policy.json repeats
# iam-policy-emr.json's EMR query, which only EMR_PREFIX needs.
POLICIES = (
    # One per kind of backup, as its module declares it (controller/sources/).
    *(
        (
            source.policy.removeprefix("iam-policy-").removesuffix(".json"),
            source.policy,
            f"Has{pascal(source.setting)}",
        )
        for source in sources.ALL
    ),
    # One per kind of autoscaler, as its module declares it (controller/autoscalers/).
    *((kind.name, kind.policy, kind.condition) for kind in autoscalers.ALL),
)
# Files that hold nothing the ones above do not: they exist for a person filling them in by
# hand (docs/iam.md). The test holds them to that.
SAME_AS = {"iam-policy-circuit-breaker.json": "iam-policy-emr.json"}
TRUST = "ecs-task-role-trust-policy.json"

# Each placeholder of the JSON files, as a variable of Fn::Sub: a parameter, a pseudo
# parameter, or a value worked out from parameters.
CLUSTER_NAME = {
    # AUTOSCALER_CLUSTER may be an ARN (arn:...:cluster/NAME): the policy needs the name.
    # The appended "/" keeps Fn::Select in range for a plain name, whichever branch is taken.
    "Fn::If": [
        "AutoscalerClusterIsArn",
        {"Fn::Select": [1, {"Fn::Split": ["/", {"Fn::Sub": "${AutoscalerCluster}/"}]}]},
        {"Ref": "AutoscalerCluster"},
    ]
}
TABLES_REGION = {"Fn::If": ["HasDynamodbRegion", {"Ref": "DynamodbRegion"}, {"Ref": "EmrRegion"}]}
PLACEHOLDERS: dict[str, tuple[str, Any]] = {
    "AWS_ACCOUNT_ID": ("AWS::AccountId", None),
    "ACCOUNT_ID": ("AWS::AccountId", None),
    "REGION": ("AWS::Region", None),
    "EMR_REGION": ("EmrRegion", None),
    "AUTOSCALER_REGION": ("AutoscalerRegion", None),
    "AUTOSCALER_SERVICE": ("AutoscalerService", None),
    # A kind's policy may name its prefix (iam-policy-glue.json: ${GLUE_JOB_PREFIX}).
    **{source.setting: (pascal(source.setting), None) for source in sources.ALL},
    "DYNAMODB_TABLE_PREFIX": ("DynamodbTablePrefix", None),
    "DYNAMODB_REGION": ("TablesRegion", TABLES_REGION),
    "AUTOSCALER_CLUSTER": ("ClusterName", CLUSTER_NAME),
}
# The one resource that names AUTOSCALER_SERVICE: given as an ARN, that ARN is the resource
# exactly (a short-ARN service too); given as a name, it is built from the names.
SERVICE_ARN = (
    "arn:aws:ecs:${AUTOSCALER_REGION}:${AWS_ACCOUNT_ID}:"
    "service/${AUTOSCALER_CLUSTER}/${AUTOSCALER_SERVICE}"
)


class Tag:
    """A CloudFormation intrinsic function written in YAML's short form (`!Ref X`)."""

    def __init__(self, name: str, value: Any) -> None:
        self.name, self.value = name, value


class _Dumper(yaml.SafeDumper):
    pass


def _simple(value: Any) -> bool:
    """Short enough for one line: text, numbers, and functions of them (`!Not [!Equals ...]`)."""
    if isinstance(value, Tag):
        return _simple(value.value)
    if isinstance(value, list):
        return all(_simple(item) for item in value)
    return isinstance(value, (str, int))


def _tag(dumper: yaml.SafeDumper, tag: Tag) -> yaml.Node:
    if isinstance(tag.value, str):
        return dumper.represent_scalar(f"!{tag.name}", tag.value)
    return dumper.represent_sequence(f"!{tag.name}", tag.value, flow_style=_simple(tag.value))


_Dumper.add_representer(Tag, _tag)


def short(value: Any) -> Any:
    """`{"Ref": X}` and `{"Fn::If": [...]}` as short-form tags, all the way down."""
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner) = next(iter(value.items()))
            if key == "Ref" or key.startswith("Fn::"):
                return Tag(key.removeprefix("Fn::"), short(inner))
        return {key: short(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [short(item) for item in value]
    return value


def dump(value: Any) -> str:
    return yaml.dump(short(value), Dumper=_Dumper, sort_keys=False, width=1000)


# --- the settings -------------------------------------------------------------------------


def parameters() -> dict[str, Any]:
    found = {}
    for _, rows in config.groups():
        for name, default, what in rows:
            parameter: dict[str, Any] = {
                "Type": "String",
                "Default": TEMPLATE_DEFAULTS.get(name, ""),
                "Description": f"{name}: {what} (controller's default: {default}). Empty: unset.",
            }
            if name in PATTERNS:
                parameter["AllowedPattern"] = PATTERNS[name]
            found[pascal(name)] = parameter
    return found


def parameter_groups() -> list[dict[str, Any]]:
    return [
        {
            "Label": {"default": f"Controller: {group}"},
            "Parameters": [pascal(n) for n, _, _ in rows],
        }
        for group, rows in config.groups()
    ]


def conditions() -> dict[str, Any]:
    return {
        f"Has{pascal(name)}": {"Fn::Not": [{"Fn::Equals": [{"Ref": pascal(name)}, ""]}]}
        for name in config.names()
    }


def environment() -> list[Any]:
    return [
        {
            "Fn::If": [
                f"Has{pascal(name)}",
                {"Name": name, "Value": {"Ref": pascal(name)}},
                {"Ref": "AWS::NoValue"},
            ]
        }
        for name in config.names()
    ]


# --- the IAM policies ---------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


def substituted(text: str) -> Any:
    """A string of a policy file as CloudFormation writes it: placeholders as Fn::Sub
    variables, and the partition of every ARN as the stack's (aws-cn, aws-us-gov)."""
    if "${AUTOSCALER_SERVICE}" not in text:
        return _sub(text)
    if text != SERVICE_ARN:
        raise SystemExit(f"cfn-template: ${{AUTOSCALER_SERVICE}} outside {SERVICE_ARN}: {text}")
    return {"Fn::If": ["AutoscalerServiceIsArn", {"Ref": "AutoscalerService"}, _sub(text)]}


def _sub(text: str) -> Any:
    variables: dict[str, Any] = {}

    def variable(match: re.Match[str]) -> str:
        if match[1] not in PLACEHOLDERS:
            raise SystemExit(f"cfn-template: no parameter for {match[0]} in {text}")
        name, value = PLACEHOLDERS[match[1]]
        if value is not None:
            variables[name] = value
        return f"${{{name}}}"

    result = re.sub(r"^arn:aws:", "arn:${AWS::Partition}:", _PLACEHOLDER.sub(variable, text))
    if result == text:
        return text
    return {"Fn::Sub": [result, variables] if variables else result}


def cloudformed(value: Any) -> Any:
    if isinstance(value, str):
        return substituted(value)
    if isinstance(value, dict):
        return {key: cloudformed(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [cloudformed(item) for item in value]
    return value


def policy_file(name: str) -> dict[str, Any]:
    return dict(json.loads((DEPLOY / name).read_text()))


def task_role_policies() -> dict[str, Any]:
    """One AWS::IAM::Policy on the task role per file, each with its condition."""
    granted: list[Any] = []
    resources = {}
    for name, file, condition in POLICIES:
        document = policy_file(file)
        own = [s for s in document["Statement"] if s not in granted]
        granted += own
        resources[f"{pascal(name.replace('-', '_'))}Policy"] = {
            "Type": "AWS::IAM::Policy",
            "Condition": condition,
            "Properties": {
                "PolicyName": name,
                "Roles": [{"Ref": "TaskRole"}],
                "PolicyDocument": {"Version": document["Version"], "Statement": cloudformed(own)},
            },
        }
    # The service starts once every policy that applies is attached: a Ref inside Fn::If is
    # a dependency only where its condition holds, and the service depends on this.
    resources["TaskRolePolicies"] = {
        "Type": "AWS::CloudFormation::WaitConditionHandle",
        "Metadata": {
            policy: {"Fn::If": [resource["Condition"], {"Ref": policy}, ""]}
            for policy, resource in resources.items()
        },
    }
    return resources


def task_role_trust() -> dict[str, Any]:
    return dict(cloudformed(policy_file(TRUST)))


# --- the template -------------------------------------------------------------------------

PARTS: dict[str, Callable[[], Any]] = {
    "parameters": parameters,
    "parameter-groups": parameter_groups,
    "conditions": conditions,
    "environment": environment,
    "task-role-trust": task_role_trust,
    "task-role-policies": task_role_policies,
}
_BEGIN = re.compile(r"^( *)# BEGIN GENERATED (\S+)")


def generated(text: str) -> str:
    """`text` with every generated part written anew."""
    out: list[str] = []
    lines: Iterable[str] = iter(text.splitlines(keepends=True))
    for line in lines:
        out.append(line)
        begin = _BEGIN.match(line)
        if not begin:
            continue
        indent, part = begin[1], begin[2]
        if part not in PARTS:
            raise SystemExit(f"cfn-template: no generator for part {part!r}")
        for skipped in lines:
            if skipped.strip() == f"# END GENERATED {part}":
                break
        else:
            raise SystemExit(f"cfn-template: no '# END GENERATED {part}' line")
        out += [f"{indent}{row}\n" if row else "\n" for row in dump(PARTS[part]()).splitlines()]
        out.append(f"{indent}# END GENERATED {part}\n")
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether it is current")
    args = parser.parse_args(argv)
    current = TEMPLATE.read_text()
    wanted = generated(current)
    if wanted == current:
        return 0
    if args.check:
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            wanted.splitlines(keepends=True),
            "deploy/cloudformation.yaml",
            "deploy/cloudformation.yaml (generated)",
        )
        sys.stdout.writelines(diff)
        print(
            "\ndeploy/cloudformation.yaml is not current: run scripts/cfn-template", file=sys.stderr
        )
        return 1
    TEMPLATE.write_text(wanted)
    print("wrote deploy/cloudformation.yaml", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
