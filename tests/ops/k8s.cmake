# The Kubernetes manifests (ops/k8s): rendered with `kubectl kustomize`, every object validated
# against the Kubernetes OpenAPI schemas (npm kubernetes-models and
# @kubernetes-models/prometheus-operator, installed once into build/node-cache), strictly (a field
# the schema does not declare, e.g. a typo `readinesProbe`, fails), the cross-references checked
# against the real omega binary and live servers, and the pods against the Dockerfile (or
# Dockerfile.cuda, overlays/gpu) their image is built from: ENTRYPOINT, USER, VOLUME, CMD/EXPOSE, ENV. Set
# OMEGA_K8S_EXTRA_KUBECTL=/path/to/another/kubectl to also render with a second kustomize.
add_test(NAME ops/k8s COMMAND ${OMEGA_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/ops/check_k8s.py
  --omega ${OMEGA_TEST_OMEGA} --genmodel ${OMEGA_TEST_GENMODEL} --node-cache ${PROJECT_BINARY_DIR}/node-cache)
set_tests_properties(ops/k8s PROPERTIES LABELS ops TIMEOUT 420 SKIP_RETURN_CODE 77)
