#!/usr/bin/env python3
"""Writes the vm_retrieve*.xml SIPp scenarios (many near-identical INFO key presses, so they
are generated rather than typed). Run from testdata/sipp: python3 vm_make_retrieve_scenarios.py
"""
head='''<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
'''
FROM='From: "SIPp Owner" <sip:4512345678@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]'
invite='''  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      '''+FROM+'''
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: [cseq] INVITE
      Contact: <sip:4512345678@[local_ip]:[local_port]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
      a=sendrecv

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      '''+FROM+'''
      [last_To:]
      Call-ID: [call_id]
      CSeq: [cseq] ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
'''
def info(signal, branch=''):
    return '''  <send retrans="500">
    <![CDATA[
      INFO [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]'''+branch+'''
      '''+FROM+'''
      [last_To:]
      Call-ID: [call_id]
      CSeq: [cseq] INFO
      Max-Forwards: 70
      Content-Type: application/dtmf-relay
      Content-Length: [len]

      Signal='''+signal+'''
      Duration=160
    ]]>
  </send>
  <recv response="200"/>
  <pause milliseconds="150"/>
'''
def pause(ms): return f'  <pause milliseconds="{ms}"/>\n'
def key(name): return f'''  <nop>
    <action>
      <exec play_pcap_audio="testdata/audio/vm_dtmf_{name}.pcap"/>
    </action>
  </nop>
  <pause milliseconds="400"/>
'''
bye='''  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      '''+FROM+'''
      [last_To:]
      Call-ID: [call_id]
      CSeq: [cseq] BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200"/>
'''
their_bye='''  <recv request="BYE" timeout="20000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
'''
local=''.join(info(f'[$d{i}]') for i in range(1,8))
pin=''.join(info(f'[$p{i}]') for i in range(1,5))+info('#')
globals_local='  <Global variables="d1,d2,d3,d4,d5,d6,d7"/>\n'
globals_pin='  <Global variables="d1,d2,d3,d4,d5,d6,d7,p1,p2,p3,p4"/>\n'

open('vm_retrieve.xml','w').write(head+'''<!-- The owner calls the voicemail access number (-s 8000) and, with DTMF: enters the local
     number by SIP INFO (-set d1 .. d7: its digits), the demo PIN 2580# as RFC 4733 events
     (testdata/audio/vm_dtmf_*.pcap: one growing sequence, as a phone sends), 1 for the new messages, listens to the newest (envelope and message), 9
     saves it, 6 goes to the next, listens, 7 deletes it, and hangs up (which commits the
     delete). Pauses are long enough for the longest language. Run from the crate root. -->
<scenario name="vm: the owner listens, saves and deletes">
'''+globals_local+invite+pause(1500)+local+pause(2000)+key('2')+key('5')+key('8')+key('0')+key('pound')
+pause(9000)+key('1')+pause(24000)+key('9')+pause(4000)+key('6')+pause(24000)+key('7')+pause(3000)+bye+'''</scenario>
''')

# In the loop each INFO is sent again: a new branch per attempt, else it is a retransmission.
attempt='a[$n]'
local_loop=''.join(info(f'[$d{i}]', attempt) for i in range(1,8))
pin_loop=''.join(info(f'[$p{i}]', attempt) for i in range(1,5))+info('#', attempt)
speech='''  <nop>
    <action>
      <exec play_pcap_audio="testdata/audio/vm_speech_10s.pcap"/>
    </action>
  </nop>
'''
open('vm_retrieve_pins.xml','w').write(head+'''<!-- The caller at the voicemail access number (-s 8000) tries to log in up to -set attempts N
     times with local number d1..d7 and PIN p1..p4 (SIP INFO keys, PIN ended by #), and
     expects OneStatus to end the call (BYE) after the Nth attempt, not before: after three
     wrong PINs, or at once when the mailbox is (or becomes) locked. Speech is played at each
     attempt only so that the call has RTP, as a phone's would. Run from the crate root. -->
<scenario name="vm: PIN attempts until OneStatus hangs up">
  <Global variables="d1,d2,d3,d4,d5,d6,d7,p1,p2,p3,p4,attempts"/>
'''+invite+'''  <nop>
    <action>
      <todouble assign_to="n" variable="attempts"/>
    </action>
  </nop>
  <label id="1"/>
'''+speech+pause(1000)+local_loop+pause(1200)+pin_loop+'''  <recv request="BYE" timeout="7000" ontimeout="2"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0

    ]]>
  </send>
  <nop>
    <action>
      <test assign_to="early" variable="n" compare="greater_than" value="1"/>
    </action>
  </nop>
  <nop condexec="early">
    <action>
      <error message="BYE before the last attempt"/>
    </action>
  </nop>
  <nop next="9"/>
  <label id="2"/>
  <nop>
    <action>
      <subtract assign_to="n" value="1"/>
      <test assign_to="again" variable="n" compare="greater_than" value="0"/>
    </action>
  </nop>
  <nop next="1" test="again"/>
  <nop>
    <action>
      <error message="no BYE after the last attempt"/>
    </action>
  </nop>
  <label id="9"/>
  <pause milliseconds="100"/>
</scenario>
''')

open('vm_retrieve_new_pin.xml','w').write(head+'''<!-- First login with the default PIN 0000 (-s 8000, local number -set d1 .. d7): OneStatus
     asks for a new PIN; the caller enters p1..p4 twice (SIP INFO, each ended by #), hears the
     count and hangs up. Run from the crate root. -->
<scenario name="vm: the forced PIN change at first login">
'''+globals_pin+invite+pause(1500)+local+pause(1500)+''.join(info('0') for _ in range(4))+info('#')
+pause(6000)+pin+pause(2500)+pin+pause(4000)+bye+'''</scenario>
''')
