/** Policies the tests share. */

/** The issue's own example: list/watch pods and configmaps in my namespace, create jobs (plus exec of one command). */
export const JOB_LAUNCHER_POLICY = `
rules:
  - name: observe
    verbs: [get, list, watch]
    apiGroups: [""]
    resources: [pods, configmaps]
    namespaces: ["$(POD_NAMESPACE)"]
  - name: launch-jobs
    verbs: [create, get]
    apiGroups: [batch]
    resources: [jobs]
    namespaces: ["$(POD_NAMESPACE)"]
  - name: exec-echo
    verbs: [get, create]
    apiGroups: [""]
    resources: [pods/exec]
    namespaces: ["$(POD_NAMESPACE)"]
    when: { commands: [[echo, allowed]] }
  - verbs: [get]
    nonResourceURLs: [/version, /api, /api/*, /apis, /apis/*, /openapi/*]
`;
