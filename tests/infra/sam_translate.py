"""Print template.yaml after the SAM transform as JSON (run with .venv-sam's Python, which has SAM)."""

import json
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicyLookup:
    """The transform only needs IAM for managed policy names given without an ARN; we use none."""

    def load(self) -> dict[str, str]:
        return {}


def main(path: str) -> None:
    with open(path) as handle:
        template = yaml_parse(handle.read())
    # What `sam package` would do: local code and nested template paths become S3 locations.
    template["Globals"]["Function"]["CodeUri"] = "s3://artifacts/landing.zip"
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Application":
            resource["Properties"]["Location"] = "https://s3.amazonaws.com/artifacts/database.yaml"
    json.dump(transform(template, {}, NoManagedPolicyLookup()), sys.stdout, indent=1, default=str)


if __name__ == "__main__":
    main(sys.argv[1])
