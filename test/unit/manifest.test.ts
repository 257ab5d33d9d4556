/**
 * The add-on manifest and translations stay in step with the zod schema: config.yaml and translations/en.yaml
 * on disk must equal what `npm run manifest` generates, every option must have a name and a description, and
 * every schema type must be one the Supervisor accepts (home-assistant/supervisor `supervisor/addons/options.py`).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  type AddonSchemaNode,
  addonSchema,
  configurationTranslations,
  type OptionDoc,
  optionPaths,
  REPO_DIR,
  renderConfigYaml,
  renderTranslations,
} from '../../src/config/manifest.js';
import { OptionsSchema } from '../../src/config/schema.js';
import { isSchemaType } from '../helpers/supervisor-schema.js';

const STALE = 'is stale: run `npm run manifest` and commit the result';

function leaves(node: AddonSchemaNode, path: string): Array<[string, string]> {
  if (typeof node === 'string') return [[path, node]];
  if (Array.isArray(node)) return leaves(node[0] as AddonSchemaNode, path);
  return Object.entries(node).flatMap(([k, v]) => leaves(v, `${path}.${k}`));
}

function readYaml(name: string): Record<string, unknown> {
  return parse(readFileSync(join(REPO_DIR, name), 'utf8')) as Record<string, unknown>;
}

describe('add-on manifest', () => {
  it(`config.yaml matches the schema and package.json (else it ${STALE})`, () => {
    const pkg = JSON.parse(readFileSync(join(REPO_DIR, 'package.json'), 'utf8')) as { version: string };
    expect(readFileSync(join(REPO_DIR, 'config.yaml'), 'utf8'), `config.yaml ${STALE}`).toBe(
      renderConfigYaml(pkg.version),
    );
  });

  it(`translations/en.yaml matches option-docs.yaml (else it ${STALE})`, () => {
    expect(
      readFileSync(join(REPO_DIR, 'translations/en.yaml'), 'utf8'),
      `translations/en.yaml ${STALE}`,
    ).toBe(renderTranslations());
  });

  it('has the keys Home Assistant needs for this add-on', () => {
    const config = readYaml('config.yaml');
    expect(config).toMatchObject({
      slug: 'tts_hub',
      arch: ['aarch64', 'amd64'],
      services: ['mqtt:need'],
      map: ['share:rw'],
      ingress: true,
      hassio_api: true,
      homeassistant_api: true,
      panel_icon: 'mdi:account-voice',
      ports: { '8099/tcp': 8099, '10210/tcp': 10210 },
    });
  });

  it('gives every option, nested ones included, a name and a description in translations/en.yaml', () => {
    const configuration = readYaml('translations/en.yaml').configuration as Record<string, OptionDoc>;
    const lookup = (path: string): OptionDoc | undefined => {
      let docs: Record<string, OptionDoc> | undefined = configuration;
      let doc: OptionDoc | undefined;
      for (const key of path.split('.')) {
        doc = docs?.[key];
        docs = doc?.fields;
      }
      return doc;
    };
    const paths = optionPaths();
    expect(paths).toContain('engines.timeout_s');
    expect(paths).toContain('microphones.url');
    for (const path of paths) {
      const doc = lookup(path);
      expect(doc?.name, `${path} has no name`).toBeTruthy();
      expect(doc?.description, `${path} has no description`).toBeTruthy();
    }
  });

  it('refuses to generate translations when an option has no docs', () => {
    const docs = readYaml('src/config/option-docs.yaml') as Record<string, OptionDoc>;
    const { max_text_chars: _gone, ...withoutOne } = docs;
    expect(() => configurationTranslations(withoutOne)).toThrow(/max_text_chars/);
  });

  it('writes only types the Supervisor accepts, with optional (?) keys where zod has a default in list items', () => {
    const schema = addonSchema();
    for (const [path, type] of leaves(schema, 'options')) {
      expect(isSchemaType(type), `${path}: '${type}' is a Supervisor type`).toBe(true);
    }
    expect(schema.log_level).toBe('list(trace|debug|info|warn|error|fatal|silent)');
    const engine = (schema.engines as AddonSchemaNode[])[0] as Record<string, string>;
    expect(engine).toMatchObject({ url: 'url?', max_parallel: 'int(1,64)?', timeout_s: 'float(0,600)?' });
    expect((schema.http as Record<string, string>).api_token).toBe('password?');
  });

  it("has options that are the schema's own defaults and cover every required key", () => {
    const config = readYaml('config.yaml');
    const options = config.options as Record<string, unknown>;
    expect(OptionsSchema.parse(options)).toEqual(OptionsSchema.parse({}));
    const schema = config.schema as Record<string, AddonSchemaNode>;
    for (const [key, type] of Object.entries(schema)) {
      if (typeof type === 'string' && type.endsWith('?')) continue;
      expect(options, `options lack required ${key}`).toHaveProperty(key);
    }
  });
});
