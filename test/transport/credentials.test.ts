import { describe, expect, it } from 'vitest';
import { mqttAuth, parseArgs } from '../../src/cli/args.js';
import { redactUrl, urlCredentials } from '../../src/transport/index.js';

describe('MQTT credentials', () => {
  it('redacts the password of a URL and splits user:password out of it', () => {
    expect(redactUrl('mqtt://u:p%40ss@host:1883')).toBe('mqtt://u:***@host:1883');
    expect(redactUrl('mqtts://robot-a:pw@broker.example/x')).toBe('mqtts://robot-a:***@broker.example/x');
    expect(redactUrl('mqtt://host:1883')).toBe('mqtt://host:1883');
    expect(redactUrl('mqtt://user@host:1883')).toBe('mqtt://user@host:1883');
    expect(urlCredentials('mqtt://u:p%40ss@host:1883')).toEqual({ url: 'mqtt://host:1883', username: 'u', password: 'p@ss' });
    expect(urlCredentials('mqtt://host:1883')).toEqual({ url: 'mqtt://host:1883' });
  });

  it('takes --username/--password first, then the URL, then O2O_MQTT_USERNAME / O2O_MQTT_PASSWORD', () => {
    const flags = parseArgs(['--username', 'f', '--password', 'fp']);
    const none = parseArgs([]);
    const env = { O2O_MQTT_USERNAME: 'e', O2O_MQTT_PASSWORD: 'ep' };
    expect(mqttAuth(flags, 'mqtt://u:p@h:1', env)).toEqual({ url: 'mqtt://h:1', username: 'f', password: 'fp' });
    expect(mqttAuth(none, 'mqtt://u:p@h:1', env)).toEqual({ url: 'mqtt://h:1', username: 'u', password: 'p' });
    expect(mqttAuth(none, 'mqtt://h:1', env)).toEqual({ url: 'mqtt://h:1', username: 'e', password: 'ep' });
    expect(mqttAuth(none, 'mqtt://h:1', {})).toEqual({ url: 'mqtt://h:1' });
  });
});
