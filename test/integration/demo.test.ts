import { spawn } from 'node:child_process';
import { expect, it } from 'vitest';
import { cleanEnv } from '../support/ambassador.ts';
import { curl } from '../support/http.ts';

it('npm run demo serves the test API server through the ambassador and prints curl lines that work', async () => {
  const demo = spawn(process.execPath, [new URL('../support/demo.ts', import.meta.url).pathname], {
    env: cleanEnv({ DEMO_PORT: '0', DEMO_ADMIN_PORT: '0' }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => demo.once('exit', resolve));
  try {
    const versionUrl = await new Promise<string>((resolve, reject) => {
      let printed = '';
      demo.stdout.setEncoding('utf8').on('data', (chunk: string) => {
        printed += chunk;
        const line = /curl (localhost:\d+\/version)\n/.exec(printed);
        if (line?.[1] !== undefined) resolve(line[1]);
      });
      void exited.then((code) => reject(new Error(`the demo exited ${code}: ${printed}`)));
    });
    expect(JSON.parse((await curl([versionUrl])).stdout)).toMatchObject({ gitVersion: 'v1.33.0' });
    const pods = JSON.parse((await curl([versionUrl.replace('/version', '/api/v1/namespaces/default/pods')])).stdout) as { items: Array<{ metadata: { name: string } }> };
    expect(pods.items.map((pod) => pod.metadata.name)).toEqual(['web', 'worker']);
  } finally {
    demo.kill('SIGTERM');
  }
  expect(await exited).toBe(0);
});
