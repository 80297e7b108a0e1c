"""A device written the way Kaa's Python examples write one (paho-mqtt, its defaults: MQTT 3.1.1,
clean session, QoS 0, random request IDs, `<topic>/status` subscribed before publishing), run by
test/e2e/kaa-clients.test.ts against KPC. Prints one JSON line per event on stdout:
{"ready": ...} once it waits for a command, {"topic", "payload"} for every message received.

usage: paho_device.py HOST PORT USERNAME PASSWORD APP_VERSION TOKEN
"""
import json
import random
import sys
import threading

import paho.mqtt.client as mqtt

host, port, username, password, app_version, token = sys.argv[1:7]
received = threading.Condition()
messages = []
subacks = []


def emit(record):
    print(json.dumps(record), flush=True)


def on_message(_client, _userdata, message):
    payload = message.payload.decode("utf-8")
    emit({"topic": message.topic, "payload": payload})
    with received:
        messages.append((message.topic, payload))
        received.notify_all()


def on_subscribe(_client, _userdata, mid, _granted_qos):
    with received:
        subacks.append(mid)
        received.notify_all()


def wait_for(topic, timeout=10):
    with received:
        if not received.wait_for(lambda: any(t == topic for t, _ in messages), timeout):
            emit({"error": "nothing on " + topic})
            sys.exit(1)
        return next(p for t, p in messages if t == topic)


def request(topic, payload):
    client.subscribe(topic + "/status")
    client.subscribe(topic + "/error")
    client.publish(topic, payload)
    return wait_for(topic + "/status")


client = mqtt.Client(client_id="paho-" + token)
client.username_pw_set(username, password)
client.on_message = on_message
client.on_subscribe = on_subscribe
client.connect(host, int(port))
client.loop_start()

base = "kp1/{}/{{}}/{}".format(app_version, token)
request(base.format("dcx") + "/json/" + str(random.randint(1, 99)), json.dumps([{"temperature": 23}]))
request(base.format("epmx") + "/update/keys/" + str(random.randint(1, 99)), json.dumps({"model": "paho"}))
request(base.format("epmx") + "/get/" + str(random.randint(1, 99)), "")
request(base.format("cmx") + "/config/json/" + str(random.randint(1, 99)), json.dumps({"observe": True}))

command = base.format("cex") + "/command/reboot/status"
_, mid = client.subscribe(command)
with received:
    received.wait_for(lambda: mid in subacks, 10)
emit({"ready": "waiting for a reboot command"})
commands = json.loads(wait_for(command))
results = [{"id": c["id"], "statusCode": 200, "reasonPhrase": "OK", "payload": "rebooted"} for c in commands]
request(base.format("cex") + "/result/reboot/" + str(random.randint(1, 99)), json.dumps(results))
client.loop_stop()
client.disconnect()
