"""crowdact's infrastructure as code: a CDK app with one stack per stage (see infra/README.md)."""

import os

# jsii (aws-cdk-lib's Node.js bridge) warns loudly on every run that this machine's Node.js 20
# is past its end of life; infra/README.md tracks the upgrade.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
