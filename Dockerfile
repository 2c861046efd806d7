# syntax=docker/dockerfile:1
# The controller's image: a Python slim base, the official AWS CLI v2 and this package,
# running as a non-root user with the controller itself as PID 1. docs/image.md says what
# each layer is for, docs/deploy.md how to run it.

# Both pinned; bump them on purpose. The build and final stages share one Python, so the
# virtualenv copied between them points at the same interpreter.
ARG PYTHON_IMAGE=python:3.13.13-slim-trixie
ARG AWS_CLI_IMAGE=amazon/aws-cli:2.37.9

# AWS's own build of the CLI v2; only its self-contained install directory is copied below.
FROM ${AWS_CLI_IMAGE} AS awscli

FROM ${PYTHON_IMAGE} AS build
# A virtualenv without pip: the final image gets the package and its runtime dependencies
# (pinned in constraints.txt), never pip, build tools or the test extras.
RUN python -m venv --without-pip /opt/controller
COPY setup.py pyproject.toml README.md constraints.txt /src/
COPY controller/ /src/controller/
RUN pip --python /opt/controller/bin/python install --no-cache-dir \
        --disable-pip-version-check --constraint /src/constraints.txt /src

FROM ${PYTHON_IMAGE}
COPY --from=awscli /usr/local/aws-cli/ /usr/local/aws-cli/
COPY --from=build /opt/controller/ /opt/controller/
# A home directory for the CLI's ~/.aws cache (assume-role and SSO credentials). The group
# first, with its number: `useradd --system --user-group` picks a system gid (999), and
# USER 10001:10001 would then run in a group the image does not have.
RUN groupadd --system --gid 10001 controller \
    && useradd --system --no-log-init --uid 10001 --gid 10001 --create-home controller
# The CLI opens a pager unless AWS_PAGER is empty; the controller sets it for its own calls,
# this covers `docker exec ... aws` too. The settings themselves (EMR_PREFIX, EMR_REGION,
# AUTOSCALER_CLUSTER, AUTOSCALER_REGION, AUTOSCALER_SERVICE, DEBUG_OUTPUT, ...) have no
# defaults here: a missing one must stop the controller with a message, as it does.
# MALLOC_ARENA_MAX=2: sh starts threads for every CLI call and glibc gives threads arenas of
# their own; capping them halved the slow RSS creep of a long-running loop (docs/image.md).
ENV PATH=/opt/controller/bin:/usr/local/aws-cli/v2/current/bin:$PATH \
    AWS_PAGER="" \
    MALLOC_ARENA_MAX=2
USER 10001:10001

# The heartbeat already allows 3 intervals + 1 call timeout, so one failed check means a
# problem; 2 retries only absorb a single check that is itself slow on a loaded host. The
# start period is the same 3 x 60 s + 30 s a stale heartbeat gets (defaults).
HEALTHCHECK --interval=30s --timeout=10s --start-period=210s --retries=2 \
    CMD ["dynamodb-autoscaler-control", "healthcheck"]
# Exec form: the controller is PID 1 and gets `docker stop`'s SIGTERM itself (no shell in
# between). Arguments after the image name are its flags: `docker run IMAGE --once`.
ENTRYPOINT ["dynamodb-autoscaler-control"]
CMD []
