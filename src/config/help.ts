/** The text of --help, drawn from the option table so that it cannot leave an option out. */
import { envName, OPTION_KEYS, specOf } from './options.ts';

function optionLines(): string[] {
  const lines: string[] = [];
  let group = '';
  for (const key of OPTION_KEYS) {
    const spec = specOf(key);
    if (spec.group !== group) {
      group = spec.group;
      lines.push('', `${group}:`);
    }
    const short = spec.short === undefined ? '' : `-${spec.short}, `;
    const shown = spec.defaultText === '' ? '' : ` (default: ${spec.defaultText})`;
    lines.push(`  ${short}--${spec.flag}${spec.isSwitch === true ? '' : ' VALUE'}   [${envName(spec.flag)}]${shown}`);
    lines.push(`      ${spec.help}`);
  }
  return lines;
}

export function renderHelp(programName: string): string {
  const lines = [
    `${programName}: a localhost door to the Kubernetes API for the programs in a pod.`,
    '',
    `Usage: ${programName} [flags]`,
    '',
    'Listens on 127.0.0.1:8001 over plain HTTP and forwards each request to the API server over',
    "HTTPS with the pod's service-account token (or a kubeconfig), re-read as it rotates.",
    `Every flag can also be set with the environment variable shown (flags win).`,
    ...optionLines(),
    '',
    'Other:',
    '  -h, --help      Show this help.',
    '  --version       Print the version.',
    '',
    `Policy tools (${programName} policy --help):`,
    '  policy check --policy FILE METHOD TARGET   Decide one request as the proxy would.',
    "  policy learn [--user USER] AUDIT_LOG       Learn a policy from an audit log, the ambassador's or kube-apiserver's.",
    "  policy replay --policy FILE AUDIT_LOG      Decide a log's requests against a policy; exit code 3 if any is refused.",
    '',
    'Exit codes: 0 stopped cleanly, 1 failed while running, 2 invalid configuration or no cluster found.',
  ];
  return lines.join('\n') + '\n';
}
